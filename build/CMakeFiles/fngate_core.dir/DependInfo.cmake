
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/src/b64url.c" "CMakeFiles/fngate_core.dir/src/b64url.c.o" "gcc" "CMakeFiles/fngate_core.dir/src/b64url.c.o.d"
  "/work/main/src/conf.c" "CMakeFiles/fngate_core.dir/src/conf.c.o" "gcc" "CMakeFiles/fngate_core.dir/src/conf.c.o.d"
  "/work/main/src/gate.c" "CMakeFiles/fngate_core.dir/src/gate.c.o" "gcc" "CMakeFiles/fngate_core.dir/src/gate.c.o.d"
  "/work/main/src/jsonpos.c" "CMakeFiles/fngate_core.dir/src/jsonpos.c.o" "gcc" "CMakeFiles/fngate_core.dir/src/jsonpos.c.o.d"
  "/work/main/src/keys.c" "CMakeFiles/fngate_core.dir/src/keys.c.o" "gcc" "CMakeFiles/fngate_core.dir/src/keys.c.o.d"
  "/work/main/src/log.c" "CMakeFiles/fngate_core.dir/src/log.c.o" "gcc" "CMakeFiles/fngate_core.dir/src/log.c.o.d"
  "/work/main/src/mint.c" "CMakeFiles/fngate_core.dir/src/mint.c.o" "gcc" "CMakeFiles/fngate_core.dir/src/mint.c.o.d"
  "/work/main/src/registry.c" "CMakeFiles/fngate_core.dir/src/registry.c.o" "gcc" "CMakeFiles/fngate_core.dir/src/registry.c.o.d"
  "/work/main/src/revoke.c" "CMakeFiles/fngate_core.dir/src/revoke.c.o" "gcc" "CMakeFiles/fngate_core.dir/src/revoke.c.o.d"
  "/work/main/src/route.c" "CMakeFiles/fngate_core.dir/src/route.c.o" "gcc" "CMakeFiles/fngate_core.dir/src/route.c.o.d"
  "/work/main/src/state.c" "CMakeFiles/fngate_core.dir/src/state.c.o" "gcc" "CMakeFiles/fngate_core.dir/src/state.c.o.d"
  "/work/main/src/tcache.c" "CMakeFiles/fngate_core.dir/src/tcache.c.o" "gcc" "CMakeFiles/fngate_core.dir/src/tcache.c.o.d"
  "/work/main/src/token.c" "CMakeFiles/fngate_core.dir/src/token.c.o" "gcc" "CMakeFiles/fngate_core.dir/src/token.c.o.d"
  "/work/main/src/util.c" "CMakeFiles/fngate_core.dir/src/util.c.o" "gcc" "CMakeFiles/fngate_core.dir/src/util.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
