using System.CommandLine;

namespace FeatureStore.Cli.Commands;

/// <summary>Options several commands share, with their environment-variable fallbacks.</summary>
internal static class CommonOptions
{
    public static Option<FileInfo> RepositoryFile() => new("--file", "-f")
    {
        Description = "The feature repository file (featurestore.yaml).",
        Required = true,
    };

    public static Option<string> Redis() => new("--redis")
    {
        Description = "Online store: 'embedded' (Garnet in this process) or a StackExchange.Redis configuration such as 127.0.0.1:6379. Env: FEATURESTORE__REDIS__CONFIGURATION.",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("FEATURESTORE__REDIS__CONFIGURATION") ?? "embedded",
    };

    /// <summary>
    /// <c>--redis</c> of the commands that write to or read from the registry and then exit (apply, baseline,
    /// model, drift): without it, the environment's store or the running host's (<see cref="RunState"/>), never
    /// a store of the command's own that vanishes with it.
    /// </summary>
    public static Option<string?> SharedRedis() => new("--redis")
    {
        Description = "The online store holding the registry: a StackExchange.Redis configuration such as 127.0.0.1:6379. Default: FEATURESTORE__REDIS__CONFIGURATION, else the store of the `featurestore run` started in this folder (found through .featurestore/run.json). 'embedded' is a store of this command alone, gone when it exits.",
    };

    /// <summary><c>--key-prefix</c> going with <see cref="SharedRedis"/>: given, else the environment's, else the running host's, else fs.</summary>
    public static Option<string?> SharedKeyPrefix() => new("--key-prefix")
    {
        Description = "Prefix of every online-store key. Default: FEATURESTORE__REDIS__KEYPREFIX, else the running host's, else fs.",
    };

    public static Option<string> KeyPrefix() => new("--key-prefix")
    {
        Description = "Prefix of every online-store key. Env: FEATURESTORE__REDIS__KEYPREFIX.",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("FEATURESTORE__REDIS__KEYPREFIX") ?? "fs",
    };

    public static Option<string> BootstrapServers() => new("--bootstrap-servers")
    {
        Description = "Kafka bootstrap servers. Env: FEATURESTORE__KAFKA__BOOTSTRAPSERVERS.",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("FEATURESTORE__KAFKA__BOOTSTRAPSERVERS") ?? "",
    };
}
