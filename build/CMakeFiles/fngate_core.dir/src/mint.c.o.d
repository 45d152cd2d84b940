CMakeFiles/fngate_core.dir/src/mint.c.o: /work/main/src/mint.c \
 /usr/include/stdc-predef.h
