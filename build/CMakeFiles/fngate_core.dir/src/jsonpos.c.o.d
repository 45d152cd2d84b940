CMakeFiles/fngate_core.dir/src/jsonpos.c.o: /work/main/src/jsonpos.c \
 /usr/include/stdc-predef.h
