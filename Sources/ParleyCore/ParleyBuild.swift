/// What build this is: `parley --version`, the `parley_build_info` metric, the MCP server's version.
public enum ParleyBuild {
    public static let version = "0.9.0"
}
