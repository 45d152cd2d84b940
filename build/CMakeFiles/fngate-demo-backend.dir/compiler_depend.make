# Empty compiler generated dependencies file for fngate-demo-backend.
# This may be replaced when dependencies are built.
