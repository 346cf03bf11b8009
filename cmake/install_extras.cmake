# Run at install time (cmake/install.cmake): the parts whose place or content depends on the
# prefix the install runs with. DESTDIR is honoured by file(INSTALL).
set(prefix "${CMAKE_INSTALL_PREFIX}")
set(VG_BINDIR "${prefix}/${VG_BINDIR_REL}")
set(VG_DOCDIR "${prefix}/${VG_DOCDIR_REL}")
set(staged "${VG_BINARY_DIR}/packaging/install")
configure_file("${VG_SOURCE_DIR}/packaging/vramguard.service.in"
               "${staged}/system/vramguard.service" @ONLY)
configure_file("${VG_SOURCE_DIR}/packaging/vramguard-user.service.in"
               "${staged}/user/vramguard.service" @ONLY)
file(INSTALL "${staged}/system/vramguard.service" DESTINATION "${prefix}/lib/systemd/system")
file(INSTALL "${staged}/user/vramguard.service" DESTINATION "${prefix}/lib/systemd/user")
# Debian's zsh reads vendor-completions under /usr, site-functions under /usr/local and elsewhere.
if(prefix STREQUAL "/usr")
  set(zsh_dir "${prefix}/share/zsh/vendor-completions")
else()
  set(zsh_dir "${prefix}/share/zsh/site-functions")
endif()
file(INSTALL "${VG_BINARY_DIR}/completions/vramguard.zsh" DESTINATION "${zsh_dir}"
     RENAME _vramguard)
