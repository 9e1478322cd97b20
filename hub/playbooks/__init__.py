"""Playbooks: engagement actions on top of the sync.

A playbook file (TOML, e.g. ``mappings/playbooks/pqa_pql.toml``, listed by
``[playbooks] paths`` in hub.toml) says when an account *enters* (``entry``, a
condition on ``account.*``), what happens then (``[[actions]]`` for the
account, ``[[user_actions]]`` for each of its users meeting ``where``, a
condition on ``user.*``, ``account.*`` and ``relationship.*`` -- the
relationship *to this account*), and how it ends: the ``goal`` condition
becomes true (``[[goal_reached]]``) or ``timeout`` passes first
(``[[goal_not_reached]]``). Goal actions are per account unless ``per =
"user"``.

``scope = "membership"`` (default) runs a user action once per user and
account; ``scope = "user"`` once per user across every account of the playbook,
for the first account through which the user entered (the earliest entry;
among the entries of one run, the lowest account id: new entries are judged
in account id order).
``reentry = "never"`` (default): an account enters once; ``"after_exit"``: it
may enter again once its previous entry ended.

String parameters are Jinja2 templates (sandboxed, strict): ``{{ user.first_name
}} is {{ relationship.role }} of {{ account.name }}``. A variable that does not
exist is a validation error (namespaces at ``hub validate``, attributes against
the loaded data before any run); a value missing at render time fails that
action with a reason and nothing is sent.

:func:`run_playbooks` evaluates entries, goals and timeouts at ``clock()`` and
performs actions exactly once per entry (see :mod:`hub.state.playbooks`).
"""

from hub.playbooks.engine import (
    ActionOutcome,
    PlaybookReport,
    open_playbook_store,
    run_playbooks,
    run_resolution,
)
from hub.playbooks.spec import (
    PLAYBOOK_CHECKS,
    ActionSpec,
    LoadedPlaybook,
    PlaybookFile,
    attribute_problems,
    check_playbooks,
    load_playbooks,
    parse_duration,
    playbook_attribute_problems,
    playbook_problems,
    template_problems,
)

__all__ = [
    "PLAYBOOK_CHECKS",
    "ActionOutcome",
    "ActionSpec",
    "LoadedPlaybook",
    "PlaybookFile",
    "PlaybookReport",
    "attribute_problems",
    "check_playbooks",
    "load_playbooks",
    "open_playbook_store",
    "parse_duration",
    "playbook_attribute_problems",
    "playbook_problems",
    "run_playbooks",
    "run_resolution",
    "template_problems",
]
