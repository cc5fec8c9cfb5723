# Cross-compiling for 64-bit Arm Linux with Debian's cross toolchain and multiarch packages:
#   apt-get install gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user
#   dpkg --add-architecture arm64 && apt-get update
#   apt-get install libcjson-dev:arm64 libcmocka-dev:arm64 libsndfile1-dev:arm64 libsoxr-dev:arm64
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64-linux-gnu.cmake
# Test programs run under qemu-user through CMAKE_CROSSCOMPILING_EMULATOR (ctest prefixes every
# test command that is a target of this build with it). .ci/cross-aarch64 does all of this.
# Nothing here names the project's sources: it only says which compiler, libraries and emulator.

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(ENCODEC_CROSS_TRIPLE aarch64-linux-gnu CACHE INTERNAL "target triple of the cross build")
set(CMAKE_C_COMPILER ${ENCODEC_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${ENCODEC_CROSS_TRIPLE}-g++)
# Debian's multiarch layout: the target's libraries live in /usr/lib/aarch64-linux-gnu, the
# cross toolchain's link-time runtime (crt files, libc, libgomp, libstdc++) in
# /usr/aarch64-linux-gnu.
set(CMAKE_LIBRARY_ARCHITECTURE ${ENCODEC_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH /usr/${ENCODEC_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER) # build tools (python3, pkg-config) are the host's
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# pkg-config must see the target's .pc files only (the host's would link x86-64 libraries).
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${ENCODEC_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
unset(ENV{PKG_CONFIG_SYSROOT_DIR})

# How to run a target program on the build machine. The programs' loader is the multiarch
# /lib/ld-linux-aarch64.so.1 (package libc6:arm64), which finds every runtime library in
# /lib/aarch64-linux-gnu, so qemu needs no -L. (Not -L /usr/aarch64-linux-gnu: that loader
# comes from libc6-arm64-cross, whose version may differ from libc6:arm64's libc.so.6, and a
# mismatched loader and libc hang in the first pthread_create, e.g. OpenMP's.) Override with
# -DENCODEC_CROSS_EMULATOR=... (a ;-list), e.g. an empty string on a real arm64 machine.
find_program(ENCODEC_QEMU
  NAMES qemu-${CMAKE_SYSTEM_PROCESSOR} qemu-${CMAKE_SYSTEM_PROCESSOR}-static)
if(ENCODEC_QEMU)
  set(ENCODEC_CROSS_EMULATOR "${ENCODEC_QEMU}" CACHE STRING
    "Command prefix that runs target programs on the build machine")
else()
  set(ENCODEC_CROSS_EMULATOR "" CACHE STRING
    "Command prefix that runs target programs on the build machine")
endif()
if(ENCODEC_CROSS_EMULATOR)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${ENCODEC_CROSS_EMULATOR}")
endif()
