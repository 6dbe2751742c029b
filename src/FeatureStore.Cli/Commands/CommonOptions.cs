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
