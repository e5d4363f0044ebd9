"""One module per ``emodiffhead`` sub-command (see :mod:`emodiffhead.cli`)."""
