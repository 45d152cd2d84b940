# Empty dependencies file for fngate_core.
# This may be replaced when dependencies are built.
