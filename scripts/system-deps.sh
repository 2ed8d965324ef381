#!/usr/bin/env bash
# Install Debian's chromium, bubblewrap, npm (it installs axe-core, tests/browser/package.json) and
# PostgreSQL's server when they are missing and we are allowed to, and the OpenGL libraries MuJoCo
# renders episodes with when there is no display: EGL with Mesa's software rasteriser (libegl1,
# libegl-mesa0, libgl1-mesa-dri), and OSMesa (libosmesa6) as the fallback. The store tests start a
# throwaway PostgreSQL cluster of their own with its initdb.
# Never downloads a browser of its own: the browser tests drive /usr/bin/chromium.
# libseccomp2 gives the sandbox its system-call filter (loaded through ctypes); without it the
# page says the protection is reduced.
set -u
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v npm >/dev/null 2>&1 || missing+=(npm)  # installs axe-core for the accessibility tests
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
have_lib 'libseccomp\.so\.2 ' || missing+=(libseccomp2)
have_lib 'libEGL\.so\.1 ' || missing+=(libegl1)
have_lib 'libEGL_mesa\.so\.0 ' || missing+=(libegl-mesa0)
compgen -G '/usr/lib/*/dri/swrast_dri.so' >/dev/null || missing+=(libgl1-mesa-dri)
have_lib 'libOSMesa\.so' || missing+=(libosmesa6)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: ${missing[*]} missing and apt-get is not available; the tests that need them will be skipped." >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
    echo "system-deps: ${missing[*]} missing; install them with: sudo apt-get install ${missing[*]}" >&2
    exit 0
  fi
fi
echo "system-deps: installing ${missing[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
  || echo "system-deps: could not install ${missing[*]}; the tests that need them will be skipped." >&2
exit 0
