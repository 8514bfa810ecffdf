//! Nothing here: the compatibility tests live in tests/.
