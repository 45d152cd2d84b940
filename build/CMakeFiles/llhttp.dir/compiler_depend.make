# Empty compiler generated dependencies file for llhttp.
# This may be replaced when dependencies are built.
