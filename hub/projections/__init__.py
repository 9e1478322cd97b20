"""The projections: pure functions from the resolved graph to what one
destination receives (see PRODUCT.md, "Projections").

=====================================  ==========================================
module                                 projection
=====================================  ==========================================
:mod:`.membership_contacts`            1. one contact per membership
:mod:`.user_lists`                     2. account fields listing the account's users
:mod:`.stages`                         3. the user's rolled-up stage
:mod:`.primary_account`                4. the user's primary account
:mod:`.relationship_fields`            5. user fields summarising the memberships
:mod:`.associations`                   6. contact-to-account links
:mod:`.account_rollups`                7. account fields from memberships and events
:mod:`.destination`                    all of the above, for one destination
=====================================  ==========================================

Each projection takes predicates and getters as plain callables over a
:class:`~hub.references.Scope`, so it does not depend on the condition parser.
This package imports nothing on purpose (``hub.projections.resolver`` uses
:mod:`.values`); import the modules themselves.
"""
