# Empty dependencies file for fngate.
# This may be replaced when dependencies are built.
