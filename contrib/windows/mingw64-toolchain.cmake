# CMake toolchain file for cross-building tern's dependencies for 64-bit
# Windows with Debian's mingw-w64 cross-compiler (gcc-mingw-w64-x86-64).
# Use: cmake -DCMAKE_TOOLCHAIN_FILE=contrib/windows/mingw64-toolchain.cmake
# Optional: -DTERN_WINDOWS_PREFIX=DIR adds the dependency prefix that
# build-deps.sh fills to the places find_package and find_library search.
# Follows the cmake-toolchains(7) manual, "Cross Compiling for Windows".

set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(TERN_MINGW_HOST x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${TERN_MINGW_HOST}-gcc)
set(CMAKE_CXX_COMPILER ${TERN_MINGW_HOST}-g++)
set(CMAKE_RC_COMPILER ${TERN_MINGW_HOST}-windres)
set(CMAKE_AR ${TERN_MINGW_HOST}-ar CACHE FILEPATH "archiver")
set(CMAKE_RANLIB ${TERN_MINGW_HOST}-ranlib CACHE FILEPATH "ranlib")

# Search headers and libraries only in the target's directories, so no
# Linux library from /usr is picked up, but run build tools from the host.
set(CMAKE_FIND_ROOT_PATH /usr/${TERN_MINGW_HOST})
if(DEFINED TERN_WINDOWS_PREFIX)
  list(APPEND CMAKE_FIND_ROOT_PATH ${TERN_WINDOWS_PREFIX})
endif()
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
