#!/usr/bin/env node
// Installed entry point: runs the TypeScript CLI directly (Node 24 strips types natively).
import { runCli } from '../src/client.ts';

process.exitCode = await runCli(process.argv);
