# Empty dependencies file for fngate_daemon.
# This may be replaced when dependencies are built.
