"""The command line (``circles``) and the HTTP service, both over :func:`geo.plan.plan`."""
