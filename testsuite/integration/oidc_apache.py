"""Apache httpd with mod_auth_openidc (Debian: apache2, libapache2-mod-auth-openidc) as a
real relying party of the gateway, run in the foreground from a private directory."""

import os
import shutil
import signal
import subprocess
import time

import harness

MODULES = "/usr/lib/apache2/modules"


class ApacheRP:
    """`directory` must be reachable by the `nobody` user Apache serves as (pytest's own
    temporary directories are not): use `ApacheRP.make_directory()`."""

    @staticmethod
    def make_directory():
        import tempfile
        path = tempfile.mkdtemp(prefix="cns-apache-")
        os.chmod(path, 0o755)
        return path

    def __init__(self, directory, port, issuer, ca_file, client_id, client_secret):
        self.dir = directory
        self.port = port
        os.makedirs(os.path.join(directory, "htdocs", "protected"), exist_ok=True)
        with open(os.path.join(directory, "htdocs", "protected", "index.html"), "w") as handle:
            handle.write("protected content\n")
        # Apache's workers run as nobody: they read a copy of the CA, not pytest's private one.
        shutil.copy(ca_file, os.path.join(directory, "ca.pem"))
        os.chmod(os.path.join(directory, "ca.pem"), 0o644)
        ca_file = os.path.join(directory, "ca.pem")
        self.conf = os.path.join(directory, "httpd.conf")
        with open(self.conf, "w") as handle:
            handle.write("""
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile {dir}/httpd.pid
ErrorLog {dir}/error.log
LogLevel warn auth_openidc:info
DefaultRuntimeDir {dir}
Mutex file:{dir} default
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule authz_user_module {modules}/mod_authz_user.so
LoadModule authn_core_module {modules}/mod_authn_core.so
LoadModule dir_module {modules}/mod_dir.so
DirectoryIndex index.html
LoadModule auth_openidc_module {modules}/mod_auth_openidc.so
User nobody
Group nogroup
DocumentRoot {dir}/htdocs
<Directory />
    AllowOverride None
</Directory>
OIDCProviderMetadataURL {issuer}/.well-known/openid-configuration
OIDCClientID {client_id}
OIDCClientSecret {client_secret}
OIDCRedirectURI http://127.0.0.1:{port}/protected/cb
OIDCCryptoPassphrase integration-test-passphrase
OIDCScope "openid profile fiscal_number cns"
OIDCPKCEMethod S256
OIDCCABundlePath {ca}
OIDCSSLValidateServer On
OIDCRemoteUserClaim sub
OIDCInfoHook iat id_token userinfo
<Location /protected>
    AuthType openid-connect
    Require valid-user
</Location>
""".format(port=port, dir=directory, modules=MODULES, issuer=issuer, ca=ca_file, client_id=client_id,
           client_secret=client_secret))
        self.proc = None

    @property
    def redirect_uri(self):
        return "http://127.0.0.1:%d/protected/cb" % self.port

    def start(self):
        if not os.path.exists("/usr/sbin/apache2"):
            raise AssertionError("apache2 missing: apt-get install apache2 libapache2-mod-auth-openidc")
        if not os.path.exists(os.path.join(MODULES, "mod_auth_openidc.so")):
            raise AssertionError("mod_auth_openidc missing: apt-get install apache2 libapache2-mod-auth-openidc")
        os.chmod(self.dir, 0o755)
        self.proc = subprocess.Popen(["/usr/sbin/apache2", "-f", self.conf, "-DFOREGROUND"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        harness.wait_port("127.0.0.1", self.port, timeout=10)
        return self

    def log(self):
        try:
            with open(os.path.join(self.dir, "error.log")) as handle:
                return handle.read()[-4000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)
