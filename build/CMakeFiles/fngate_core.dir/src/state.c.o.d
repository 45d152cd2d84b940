CMakeFiles/fngate_core.dir/src/state.c.o: /work/main/src/state.c \
 /usr/include/stdc-predef.h
