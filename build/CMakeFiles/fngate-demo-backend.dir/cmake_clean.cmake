file(REMOVE_RECURSE
  "CMakeFiles/fngate-demo-backend.dir/demo/backend.c.o"
  "CMakeFiles/fngate-demo-backend.dir/demo/backend.c.o.d"
  "fngate-demo-backend"
  "fngate-demo-backend.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/fngate-demo-backend.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
