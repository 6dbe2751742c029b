using FeatureStore.Cli;

// `featurestore`: every subcommand lives in Commands/ as a factory returning a System.CommandLine command.
return await CliApp.RunAsync(args);
