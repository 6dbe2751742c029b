using System.CommandLine;

namespace FeatureStore.Cli.Commands;

/// <summary>Every subcommand of <c>featurestore</c>, in the order <c>--help</c> lists them.</summary>
internal static class CommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return DemoCommand.Create();
        yield return ValidateCommand.Create();
        yield return ApplyCommand.Create();
        yield return KafkaEmbeddedCommand.Create();
        yield return IngestCommand.Create();
        yield return ServeCommand.Create();
        yield return GetCommand.Create();
        yield return PushCommand.Create();
        yield return OfflineCommands.Import();
        yield return OfflineCommands.Backfill();
        yield return OfflineCommands.Export();
        yield return OfflineCommands.Offline();
        yield return RebuildCommand.Create();
        yield return DriftCommands.Baseline();
        yield return DriftCommands.Drift();
        yield return DriftCommands.Monitor();
        yield return ModelCommands.Create();
        yield return RunCommand.Create();
    }
}
