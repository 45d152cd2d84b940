file(REMOVE_RECURSE
  "libfngate_daemon.a"
)
