package org.tasft.cli;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

import picocli.CommandLine.IVersionProvider;

/**
 * {@code tasft --version}: the project's version from the pom, which Maven writes into
 * {@code org/tasft/cli/version.properties} when it copies the resources (the jar manifest's Implementation-Version
 * where that resource is missing).
 */
final class VersionProvider implements IVersionProvider {
    static final String RESOURCE = "version.properties";

    @Override
    public String[] getVersion() {
        return new String[] {"tasft " + version()};
    }

    /** The pom's version, e.g. {@code 0.1.0-SNAPSHOT}; "unknown" in a build that carries neither source of it. */
    static String version() {
        try (InputStream in = VersionProvider.class.getResourceAsStream(RESOURCE)) {
            if (in != null) {
                Properties p = new Properties();
                p.load(in);
                String v = p.getProperty("version", "").strip();
                if (!v.isEmpty() && !v.startsWith("${")) {
                    return v;
                }
            }
        } catch (IOException e) {
            // fall through to the manifest
        }
        String manifest = VersionProvider.class.getPackage().getImplementationVersion();
        return manifest != null ? manifest : "unknown";
    }
}
