file(REMOVE_RECURSE
  "CMakeFiles/fngate_core.dir/src/b64url.c.o"
  "CMakeFiles/fngate_core.dir/src/b64url.c.o.d"
  "CMakeFiles/fngate_core.dir/src/conf.c.o"
  "CMakeFiles/fngate_core.dir/src/conf.c.o.d"
  "CMakeFiles/fngate_core.dir/src/gate.c.o"
  "CMakeFiles/fngate_core.dir/src/gate.c.o.d"
  "CMakeFiles/fngate_core.dir/src/jsonpos.c.o"
  "CMakeFiles/fngate_core.dir/src/jsonpos.c.o.d"
  "CMakeFiles/fngate_core.dir/src/keys.c.o"
  "CMakeFiles/fngate_core.dir/src/keys.c.o.d"
  "CMakeFiles/fngate_core.dir/src/log.c.o"
  "CMakeFiles/fngate_core.dir/src/log.c.o.d"
  "CMakeFiles/fngate_core.dir/src/mint.c.o"
  "CMakeFiles/fngate_core.dir/src/mint.c.o.d"
  "CMakeFiles/fngate_core.dir/src/registry.c.o"
  "CMakeFiles/fngate_core.dir/src/registry.c.o.d"
  "CMakeFiles/fngate_core.dir/src/revoke.c.o"
  "CMakeFiles/fngate_core.dir/src/revoke.c.o.d"
  "CMakeFiles/fngate_core.dir/src/route.c.o"
  "CMakeFiles/fngate_core.dir/src/route.c.o.d"
  "CMakeFiles/fngate_core.dir/src/state.c.o"
  "CMakeFiles/fngate_core.dir/src/state.c.o.d"
  "CMakeFiles/fngate_core.dir/src/tcache.c.o"
  "CMakeFiles/fngate_core.dir/src/tcache.c.o.d"
  "CMakeFiles/fngate_core.dir/src/token.c.o"
  "CMakeFiles/fngate_core.dir/src/token.c.o.d"
  "CMakeFiles/fngate_core.dir/src/util.c.o"
  "CMakeFiles/fngate_core.dir/src/util.c.o.d"
  "libfngate_core.a"
  "libfngate_core.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/fngate_core.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
