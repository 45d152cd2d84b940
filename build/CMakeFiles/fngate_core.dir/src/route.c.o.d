CMakeFiles/fngate_core.dir/src/route.c.o: /work/main/src/route.c \
 /usr/include/stdc-predef.h
