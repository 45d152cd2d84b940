CMakeFiles/fngate_core.dir/src/registry.c.o: /work/main/src/registry.c \
 /usr/include/stdc-predef.h
