CMakeFiles/fngate_core.dir/src/b64url.c.o: /work/main/src/b64url.c \
 /usr/include/stdc-predef.h
