// Boost.Asio's own functions, compiled once for every part of vigil that
// uses Asio (meson.build defines BOOST_ASIO_SEPARATE_COMPILATION for the
// whole project, so no other file compiles them). Nothing of vigil's here.
#include <boost/asio/impl/src.hpp>
