using FeatureStore.Cli;

// `featurestore`: every subcommand lives in Commands/ as a factory returning a System.CommandLine command.
// Before anything else: process settings the runtime reads once (FeatureServer.ConfigureProcess).
FeatureStore.Serving.FeatureServer.ConfigureProcess();
return await CliApp.RunAsync(args);
