file(REMOVE_RECURSE
  "CMakeFiles/fngate.dir/src/cli.c.o"
  "CMakeFiles/fngate.dir/src/cli.c.o.d"
  "CMakeFiles/fngate.dir/src/main.c.o"
  "CMakeFiles/fngate.dir/src/main.c.o.d"
  "fngate"
  "fngate.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/fngate.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
