"""The columnar engine: projection rules as DuckDB queries (issue 13, under way).

The data set's structure (who belongs to which account, with which role and
stage) goes into DuckDB as integers, and each projection rule is a query over
it in its own module. Values never become SQL literals and SQL never judges a
value: every distinct value of an attribute a rule reads is interned once
(:mod:`hub.engine.values`), and what the rule needs to know of it (a stage's
rank, a time as microseconds, whether a flag is set, where a string sorts) is
computed by the same Python function the per-record rules use, once per
distinct value, and joined in as a small table. So the engine agrees with the
per-record rules on every value, odd types included, by construction; the
queries only count, rank, pick and order.

Built so far, each held to the per-record rules by property tests
(``tests/core/engine``):

- :mod:`hub.engine.tables`: the data set as integer tables;
- :mod:`hub.engine.users`: the user-level context of every user in one query:
  the rolled-up stage with its churn exit, the account count, the primary
  membership under every policy with its tie-breaks, and the notices those
  rules raise;
- :mod:`hub.engine.combos`: conditions and templates evaluated once per
  distinct combination of the values they read, joined in;
- :mod:`hub.engine.user_lists`: joined entry lists from either end of a
  membership: an account field listing its users and a user field summarising
  its memberships, filtered, ordered and truncated by whole entries behind the
  ``(+N more)`` marker;
- :mod:`hub.engine.summaries`: the summary, ``count`` and ``any`` user fields;
- :mod:`hub.engine.events`: the ``[events]`` rollups (counts and last-seen
  times per user, account and membership), written into the columns the
  rules read;
- :mod:`hub.engine.account_rollups`: the account rollups (``user_count``,
  ``active_users``, ``event_count``, ``last_active``, ``activation``);
- :mod:`hub.engine.memberships`: membership contacts (fields over every
  namespace, the rollup and the primary included, and the inflation) and
  links (properties and the primary flag);
- :mod:`hub.engine.project`: everything one destination receives (records,
  links, notices, stats), assembled from those queries.

``hub sync``, ``hub plan``, ``hub preview`` and ``hub inspect`` project with
:mod:`hub.engine.project`. Not yet built: loading sources straight into
DuckDB (the tables are filled from the loaded Python objects), fingerprints
and the diff in SQL, and Arrow batches out (records still become Python
objects, a chunk at a time). The per-record projector the tests hold the
engine to is ``tests/oracle/per_record.py``, composed of the rules in
:mod:`hub.projections`.
"""
