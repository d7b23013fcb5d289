"""Statistics: inference primitives (:mod:`.inference`) and the across-subject tables (:mod:`.tables`)."""
