CMakeFiles/fngate_core.dir/src/revoke.c.o: /work/main/src/revoke.c \
 /usr/include/stdc-predef.h
