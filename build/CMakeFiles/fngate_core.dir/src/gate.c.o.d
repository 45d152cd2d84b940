CMakeFiles/fngate_core.dir/src/gate.c.o: /work/main/src/gate.c \
 /usr/include/stdc-predef.h
