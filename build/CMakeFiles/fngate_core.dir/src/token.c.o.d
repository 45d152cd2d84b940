CMakeFiles/fngate_core.dir/src/token.c.o: /work/main/src/token.c \
 /usr/include/stdc-predef.h
