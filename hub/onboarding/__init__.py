"""Onboarding the Enti: activation and change requests (``requests``: open, move, history),
their SLA clock on the help-desk calendar (``sla``), test and production environments
(``environments``) and the referente's confirmation by signed link (``confirmations``)."""
