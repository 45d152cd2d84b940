CMakeFiles/fngate_core.dir/src/keys.c.o: /work/main/src/keys.c \
 /usr/include/stdc-predef.h
