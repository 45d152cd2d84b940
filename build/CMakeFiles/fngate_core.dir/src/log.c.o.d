CMakeFiles/fngate_core.dir/src/log.c.o: /work/main/src/log.c \
 /usr/include/stdc-predef.h
