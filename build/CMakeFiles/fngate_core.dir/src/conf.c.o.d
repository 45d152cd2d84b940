CMakeFiles/fngate_core.dir/src/conf.c.o: /work/main/src/conf.c \
 /usr/include/stdc-predef.h
