
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/src/admin.c" "CMakeFiles/fngate_daemon.dir/src/admin.c.o" "gcc" "CMakeFiles/fngate_daemon.dir/src/admin.c.o.d"
  "/work/main/src/conn.c" "CMakeFiles/fngate_daemon.dir/src/conn.c.o" "gcc" "CMakeFiles/fngate_daemon.dir/src/conn.c.o.d"
  "/work/main/src/forward.c" "CMakeFiles/fngate_daemon.dir/src/forward.c.o" "gcc" "CMakeFiles/fngate_daemon.dir/src/forward.c.o.d"
  "/work/main/src/listener.c" "CMakeFiles/fngate_daemon.dir/src/listener.c.o" "gcc" "CMakeFiles/fngate_daemon.dir/src/listener.c.o.d"
  "/work/main/src/reply.c" "CMakeFiles/fngate_daemon.dir/src/reply.c.o" "gcc" "CMakeFiles/fngate_daemon.dir/src/reply.c.o.d"
  "/work/main/src/request.c" "CMakeFiles/fngate_daemon.dir/src/request.c.o" "gcc" "CMakeFiles/fngate_daemon.dir/src/request.c.o.d"
  "/work/main/src/response.c" "CMakeFiles/fngate_daemon.dir/src/response.c.o" "gcc" "CMakeFiles/fngate_daemon.dir/src/response.c.o.d"
  "/work/main/src/serve.c" "CMakeFiles/fngate_daemon.dir/src/serve.c.o" "gcc" "CMakeFiles/fngate_daemon.dir/src/serve.c.o.d"
  "/work/main/src/upstream.c" "CMakeFiles/fngate_daemon.dir/src/upstream.c.o" "gcc" "CMakeFiles/fngate_daemon.dir/src/upstream.c.o.d"
  "/work/main/src/worker.c" "CMakeFiles/fngate_daemon.dir/src/worker.c.o" "gcc" "CMakeFiles/fngate_daemon.dir/src/worker.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  "/work/main/build/CMakeFiles/fngate_core.dir/DependInfo.cmake"
  "/work/main/build/CMakeFiles/llhttp.dir/DependInfo.cmake"
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
