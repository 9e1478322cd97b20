"""The web console: the CLI's reports in a browser, and two safe actions.

``hub console`` serves it on ``[console] listen`` (127.0.0.1:8400), and
``hub daemon`` on its own port under ``/console``. See :mod:`hub.console.app`
for the pages, :mod:`hub.console.security` for who may read and act, and
:mod:`hub.console.jobs` for the actions (retry, run now).
"""

from hub.console.app import ConsoleApp, console_problem

__all__ = ["ConsoleApp", "console_problem"]
