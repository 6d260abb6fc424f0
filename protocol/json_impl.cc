// Compiles Boost.JSON into libvigilproto (its "header-only" mode), so that
// pam_vigil.so loads no extra shared library into sshd, login or sudo.
// Exactly one translation unit in the whole project includes this.
#include <boost/json/src.hpp>
