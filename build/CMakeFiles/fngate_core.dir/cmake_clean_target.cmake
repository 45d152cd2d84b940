file(REMOVE_RECURSE
  "libfngate_core.a"
)
