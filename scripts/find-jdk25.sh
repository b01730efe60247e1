# Sourced by ./moeshard and ./run-tests: finds a JDK 25 or newer and exports JAVA_HOME.
# Order: JAVA_HOME if it is new enough, then every JDK under /usr/lib/jvm (newest first),
# then the `java` on PATH. A JDK must have javac, not only a runtime. MOESHARD_JDK_DIRS replaces /usr/lib/jvm
# as the folder searched (e.g. /opt/jdks).

moeshard_java_feature() {
  # Prints the feature release (17, 21, 25, ...) of the JDK at $1, or nothing.
  local release="$1/release" v
  [ -x "$1/bin/java" ] && [ -x "$1/bin/javac" ] || return 0
  if [ -f "$release" ]; then
    v=$(sed -n 's/^JAVA_VERSION="\([0-9][0-9]*\).*/\1/p' "$release")
  else
    v=$("$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9][0-9]*\).*/\1/p' | head -n 1)
  fi
  printf '%s' "$v"
}

moeshard_find_jdk() {
  local candidate feature
  local candidates=()
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME")
  for candidate in $(ls -d ${MOESHARD_JDK_DIRS:-/usr/lib/jvm}/*/ 2>/dev/null | sort -rV); do
    candidates+=("${candidate%/}")
  done
  if command -v java >/dev/null 2>&1; then
    candidates+=("$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")")
  fi
  for candidate in "${candidates[@]}"; do
    feature=$(moeshard_java_feature "$candidate")
    if [ -n "$feature" ] && [ "$feature" -ge 25 ]; then
      printf '%s' "$candidate"
      return 0
    fi
  done
  return 1
}

if ! MOESHARD_JDK=$(moeshard_find_jdk); then
  echo "moeshard: no JDK 25 found (looked at JAVA_HOME, ${MOESHARD_JDK_DIRS:-/usr/lib/jvm}/* and java on PATH); install one, e.g. 'apt-get install temurin-25-jdk' or a JDK 25 tarball under /usr/lib/jvm." >&2
  exit 1
fi
export JAVA_HOME="$MOESHARD_JDK"
export PATH="$JAVA_HOME/bin:$PATH"
