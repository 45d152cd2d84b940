CMakeFiles/fngate_core.dir/src/tcache.c.o: /work/main/src/tcache.c \
 /usr/include/stdc-predef.h
