file(REMOVE_RECURSE
  "CMakeFiles/fngate_daemon.dir/src/admin.c.o"
  "CMakeFiles/fngate_daemon.dir/src/admin.c.o.d"
  "CMakeFiles/fngate_daemon.dir/src/conn.c.o"
  "CMakeFiles/fngate_daemon.dir/src/conn.c.o.d"
  "CMakeFiles/fngate_daemon.dir/src/forward.c.o"
  "CMakeFiles/fngate_daemon.dir/src/forward.c.o.d"
  "CMakeFiles/fngate_daemon.dir/src/listener.c.o"
  "CMakeFiles/fngate_daemon.dir/src/listener.c.o.d"
  "CMakeFiles/fngate_daemon.dir/src/reply.c.o"
  "CMakeFiles/fngate_daemon.dir/src/reply.c.o.d"
  "CMakeFiles/fngate_daemon.dir/src/request.c.o"
  "CMakeFiles/fngate_daemon.dir/src/request.c.o.d"
  "CMakeFiles/fngate_daemon.dir/src/response.c.o"
  "CMakeFiles/fngate_daemon.dir/src/response.c.o.d"
  "CMakeFiles/fngate_daemon.dir/src/serve.c.o"
  "CMakeFiles/fngate_daemon.dir/src/serve.c.o.d"
  "CMakeFiles/fngate_daemon.dir/src/upstream.c.o"
  "CMakeFiles/fngate_daemon.dir/src/upstream.c.o.d"
  "CMakeFiles/fngate_daemon.dir/src/worker.c.o"
  "CMakeFiles/fngate_daemon.dir/src/worker.c.o.d"
  "libfngate_daemon.a"
  "libfngate_daemon.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/fngate_daemon.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
