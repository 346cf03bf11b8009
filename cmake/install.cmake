# Installing like any tool (`cmake --install build [--prefix P]`, and the .deb: `make deb`):
#   bin/vramguard
#   share/man/man1/vramguard.1        generated at build time from docs/cli.md and the README
#   share/bash-completion/completions/vramguard, zsh's _vramguard, fish's vramguard.fish:
#                                     written at build time by `vramguard completion SHELL`,
#                                     i.e. from the subcommand table itself
#   lib/systemd/system/vramguard.service, lib/systemd/user/vramguard.service: ExecStart at
#                                     <prefix>/bin, filled in at install time (cmake/install_extras.cmake)
#   share/doc/vramguard/              README.md and docs/*.md
# Not installed: the simulated GPU (vg-simgpu, the fake libnvidia-ml.so.1) and the demo service.
# They are for tests and `make up`/`make demo`, which run them from the build directory; a fake
# NVML library in a system path could shadow the real one.
include(GNUInstallDirs)

install(TARGETS vramguard RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

find_program(VG_PYTHON3 python3 REQUIRED)
set(VG_MAN_PAGE ${CMAKE_BINARY_DIR}/man/vramguard.1)
add_custom_command(
  OUTPUT ${VG_MAN_PAGE}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
  COMMAND ${VG_PYTHON3} ${CMAKE_SOURCE_DIR}/packaging/man_page.py ${PROJECT_VERSION} ${VG_MAN_PAGE}
          ${CMAKE_SOURCE_DIR}/docs/cli.md ${CMAKE_SOURCE_DIR}/README.md
  DEPENDS ${CMAKE_SOURCE_DIR}/packaging/man_page.py ${CMAKE_SOURCE_DIR}/docs/cli.md
          ${CMAKE_SOURCE_DIR}/README.md
  COMMENT "Generating the man page vramguard.1 from docs/cli.md"
  VERBATIM)

set(VG_COMPLETIONS ${CMAKE_BINARY_DIR}/completions)
set(VG_COMPLETION_FILES)
foreach(shell bash zsh fish)
  set(out ${VG_COMPLETIONS}/vramguard.${shell})
  # The binary may be a sanitizer build: its leak check has nothing to say about a script.
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${VG_COMPLETIONS}
    COMMAND ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=0 sh -c "\"$1\" completion $2 >\"$3\""
            sh $<TARGET_FILE:vramguard> ${shell} ${out}
    DEPENDS vramguard
    COMMENT "Generating the ${shell} completion from the subcommand table"
    VERBATIM)
  list(APPEND VG_COMPLETION_FILES ${out})
endforeach()
add_custom_target(vg_docs_generated ALL DEPENDS ${VG_MAN_PAGE} ${VG_COMPLETION_FILES})

install(FILES ${VG_MAN_PAGE} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${VG_COMPLETIONS}/vramguard.bash DESTINATION
        ${CMAKE_INSTALL_DATAROOTDIR}/bash-completion/completions RENAME vramguard)
install(FILES ${VG_COMPLETIONS}/vramguard.fish DESTINATION
        ${CMAKE_INSTALL_DATAROOTDIR}/fish/vendor_completions.d)
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
file(GLOB VG_DOC_PAGES ${CMAKE_SOURCE_DIR}/docs/*.md)
install(FILES ${VG_DOC_PAGES} DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs)
# zsh's directory and the units depend on the prefix the install runs with (--prefix, CPack's
# /usr), known only then.
install(CODE "set(VG_SOURCE_DIR \"${CMAKE_SOURCE_DIR}\")
set(VG_BINARY_DIR \"${CMAKE_BINARY_DIR}\")
set(VG_BINDIR_REL \"${CMAKE_INSTALL_BINDIR}\")
set(VG_DOCDIR_REL \"${CMAKE_INSTALL_DOCDIR}\")")
install(SCRIPT ${CMAKE_SOURCE_DIR}/cmake/install_extras.cmake)

# The .deb (`make deb`: cpack in the build directory). Installs files only: no maintainer
# scripts, so nothing is enabled or started; `systemctl enable --now vramguard` is the user's step.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME vramguard)
set(CPACK_PACKAGE_VENDOR vramguard)
set(CPACK_PACKAGE_CONTACT "vramguard maintainers <vramguard@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "see who holds GPU memory, reclaim it, supervise GPU services, admit jobs by VRAM")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "see who holds GPU memory, reclaim it, supervise GPU services, admit jobs by VRAM
vramguard shows exactly who holds GPU memory (ghosts included), gets it back with proof from
the driver, supervises GPU services (vramguard up; systemd units included, enabled by nothing)
and admits their jobs by estimated VRAM. Needs the NVIDIA driver's libnvidia-ml.so.1 at run time.")
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_OUTPUT_FILE_PREFIX ${CMAKE_BINARY_DIR}/package)
include(CPack)
