# `cmake --install build --prefix P`: the tools, the plugin, the runtime and
# compiler shared libraries, the static libraries of the dialect and passes,
# the headers (with the generated .inc files), and a CMake package so that a
# downstream project can
#
#   find_package(AttnMLIR REQUIRED CONFIG)   # also finds MLIR (and LLVM)
#   target_link_libraries(my-opt PRIVATE AttnMLIR::AttnRegistration)
#
# add_mlir_library already installs every Attn* MLIR library into the export
# set `MLIRTargets` of this project (AddMLIR.cmake); the plain C++ libraries
# they link are added to it here, and the set is written out under the
# AttnMLIR:: namespace.

# The version of the CMake package and of the Python package (python/pyproject.toml).
set(ATTN_MLIR_VERSION 0.1.0)

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(ATTN_INSTALL_PACKAGE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/AttnMLIR")

# Headers: the sources and the tablegen outputs of the build tree.
install(DIRECTORY ${ATTN_SOURCE_DIR}/include/attn ${ATTN_SOURCE_DIR}/include/attn-c
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h" PATTERN "*.td")
install(DIRECTORY ${ATTN_BINARY_DIR}/include/attn
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.inc")

# Installed consumers find the headers under P/include; in the build tree
# the include_directories() of the top-level CMakeLists.txt serve.
get_property(_attn_mlir_libs GLOBAL PROPERTY MLIR_EXPORTS)
foreach(lib IN LISTS _attn_mlir_libs)
  target_include_directories(${lib} INTERFACE
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
endforeach()
# The plain CMake libraries (add_library) that the MLIR libraries link, such
# as AttnCalibration and AttnRuntime, found by walking the link lists, so
# that a library added later joins the export set without a change here.
set(_attn_plain_libs AttnCalibration AttnRuntime)
set(_attn_worklist ${_attn_mlir_libs})
while(_attn_worklist)
  list(POP_FRONT _attn_worklist _attn_lib)
  get_target_property(_attn_deps ${_attn_lib} LINK_LIBRARIES)
  foreach(dep IN LISTS _attn_deps)
    if(NOT TARGET ${dep} OR dep IN_LIST _attn_mlir_libs
       OR dep IN_LIST _attn_plain_libs)
      continue()
    endif()
    get_target_property(_attn_imported ${dep} IMPORTED)
    get_target_property(_attn_type ${dep} TYPE)
    if(NOT _attn_imported AND _attn_type MATCHES "^(STATIC|SHARED)_LIBRARY$")
      list(APPEND _attn_plain_libs ${dep})
      list(APPEND _attn_worklist ${dep})
    endif()
  endforeach()
endwhile()
foreach(lib IN LISTS _attn_plain_libs)
  set_property(TARGET ${lib} PROPERTY INTERFACE_INCLUDE_DIRECTORIES
    $<BUILD_INTERFACE:${ATTN_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
endforeach()

# Installed binaries find libAttnRuntime.so in ../lib (or next to them) and
# MLIR/LLVM where they were linked from (Debian's /usr/lib/llvm-22/lib).
set_target_properties(attn-opt attn-compile AttnPlugin AttnCompilerShared
  PROPERTIES INSTALL_RPATH "\$ORIGIN/../lib;\$ORIGIN"
             INSTALL_RPATH_USE_LINK_PATH ON)

install(TARGETS ${_attn_plain_libs} AttnCompilerShared
        EXPORT MLIRTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS attn-opt attn-compile attn-run
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# The plugin for stock mlir-opt (--load-dialect-plugin / --load-pass-plugin).
install(TARGETS AttnPlugin LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})

install(EXPORT MLIRTargets
        NAMESPACE AttnMLIR::
        FILE AttnMLIRTargets.cmake
        DESTINATION ${ATTN_INSTALL_PACKAGE_DIR})

# MLIR_DIR as this build used it: the package finds the same MLIR.
configure_package_config_file(
  ${ATTN_SOURCE_DIR}/cmake/AttnMLIRConfig.cmake.in
  ${ATTN_BINARY_DIR}/cmake/AttnMLIRConfig.cmake
  INSTALL_DESTINATION ${ATTN_INSTALL_PACKAGE_DIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR CMAKE_INSTALL_LIBDIR CMAKE_INSTALL_BINDIR)
write_basic_package_version_file(
  ${ATTN_BINARY_DIR}/cmake/AttnMLIRConfigVersion.cmake
  VERSION ${ATTN_MLIR_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES ${ATTN_BINARY_DIR}/cmake/AttnMLIRConfig.cmake
              ${ATTN_BINARY_DIR}/cmake/AttnMLIRConfigVersion.cmake
        DESTINATION ${ATTN_INSTALL_PACKAGE_DIR})
